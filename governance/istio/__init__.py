"""How Istio decides: workloads and requests, AuthorizationPolicy and PeerAuthentication
evaluation in Istio's order and precedence, over partly known traffic."""
