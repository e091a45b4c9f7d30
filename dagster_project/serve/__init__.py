"""What leaves the warehouse for people and other tools: the read-only serving file (publish),
the outbox files, PII handling, the customer lookup, the run report and the generated contracts
page. Plain Python, no Dagster."""
