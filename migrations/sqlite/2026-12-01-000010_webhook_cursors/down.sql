DROP TABLE webhook_cursors;
