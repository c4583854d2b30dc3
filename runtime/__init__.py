"""Process plumbing every app may use, and that imports no app: outages of the shared services
(Redis, the database), database-connection hygiene, event-loop lag, memory return, validated row
writes, the credential redactor, secrets at rest (the encryption keys, the data directory)."""
