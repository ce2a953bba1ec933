"""Readers for public datasets the package is evaluated and demonstrated on."""
