"""Probing one Service: the bounded HTTP fetcher, the HTTP and gRPC probes, and the prober
that runs them port by port within the Service's budgets."""
