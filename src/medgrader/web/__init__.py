"""Server-rendered pages for people: the student's wallet and the admins' back office."""
