"""The shared runtime every mediatasks service builds on."""
