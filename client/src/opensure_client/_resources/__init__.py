"""One class per API resource, in a synchronous and an asynchronous flavour."""
