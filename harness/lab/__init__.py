"""Labs: the real services under test, each reachable through a Toxiproxy proxy."""
