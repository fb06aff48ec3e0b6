"""The triage agent: from an alert, a failed deployment or a question to a ranked, evidenced diagnosis."""
