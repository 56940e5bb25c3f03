DROP TABLE check_inputs; DROP TABLE pushed_facts;
