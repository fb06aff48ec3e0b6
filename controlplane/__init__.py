"""The reference Control Plane: the system of record for what runs and what changed (REST, `/api/v1`)."""
