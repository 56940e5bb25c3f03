DROP TABLE scaffolder_events;
DROP TABLE scaffolder_tasks;
