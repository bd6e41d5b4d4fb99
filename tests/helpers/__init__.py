"""What several test suites share: real media made on the fly (:mod:`.media`), whole
stacks on their own NATS and database (:mod:`.stacks`), provider-test settings (:mod:`.providers`)."""
