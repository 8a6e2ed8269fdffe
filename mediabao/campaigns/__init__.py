"""任务宝 (viral campaigns): activities, posters, participants, assists, rewards."""
