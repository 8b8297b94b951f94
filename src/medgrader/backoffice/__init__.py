"""Read models for people: the lists and record pages of the back office and the wallet."""
