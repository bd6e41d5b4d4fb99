"""Test support shipped with the package: loopback fakes of the cloud vendors.

Fakes exist only for third-party clouds, and they speak those clouds' real wire formats,
so the official SDKs run against them unchanged (see :mod:`mediatasks.testing.fake_vendors`).
"""
