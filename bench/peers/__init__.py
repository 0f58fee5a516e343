"""The references we measure against: ceilings of the stack and the peers a user would pick."""
