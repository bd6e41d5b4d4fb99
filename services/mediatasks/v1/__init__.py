"""Generated from protos/mediatasks/v1 by `make protos`; do not edit."""
