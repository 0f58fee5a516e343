"""HTTP routes: parse, authorize, call the domain, shape the answer."""
