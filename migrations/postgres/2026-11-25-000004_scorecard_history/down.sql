DROP TABLE scorecard_history;
