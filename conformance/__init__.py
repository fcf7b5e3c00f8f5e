"""refasync's porting kit: conformance vectors and the history checker."""
