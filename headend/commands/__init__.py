"""Commands to meters: the model (`model.py`), the service that sends them on the priority lane
with a persisted, audited lifecycle (`service.py`)."""
