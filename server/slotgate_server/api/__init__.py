"""HTTP handlers, one module per tag of openapi.yaml. Each takes validated parameters, calls
one service function and returns (body, status[, headers])."""
