"""The seeds' own REST APIs (dialects) as thin façades over the registry's tasks.

Each module serves one product note of ``seeds/`` at the paths it documents, in its own
shapes and names; a task made through a dialect is an ordinary registry task (native
list, events, webhooks, console and metrics see it). They run in the registry process.
"""
