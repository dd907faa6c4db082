"""Console users: accounts' members, their passwords, sessions and the sign-in throttle."""
