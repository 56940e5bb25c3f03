DROP TABLE locations; DROP TABLE deleted_entities; DROP TABLE entities;
