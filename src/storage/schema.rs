diesel::table! {
    entities (entity_ref) {
        entity_ref -> Text,
        uid -> Text,
        origin -> Text,
        location_key -> Text,
        parent_ref -> Nullable<Text>,
        raw_json -> Text,
        relations_json -> Text,
        errors_json -> Text,
        orphan -> Bool,
        final_json -> Text,
        etag -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    deleted_entities (entity_ref) {
        entity_ref -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    locations (id) {
        id -> Text,
        #[sql_name = "type"]
        loc_type -> Text,
        target -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    repositories (origin) {
        origin -> Text,
        source_id -> Text,
        url -> Text,
        branch -> Text,
        commit_id -> Text,
        committed_at -> BigInt,
        author -> Text,
        files_json -> Text,
        crawled_at -> BigInt,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    scorecard_history (id) {
        id -> BigInt,
        scorecard -> Text,
        entity_ref -> Text,
        level -> Nullable<Text>,
        checks -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    pushed_facts (entity_ref, name) {
        entity_ref -> Text,
        name -> Text,
        value_json -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    check_inputs (scorecard, entity_ref, check_id) {
        scorecard -> Text,
        entity_ref -> Text,
        check_id -> Text,
        result -> Text,
        justification -> Text,
        author -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    exemptions (id) {
        id -> Text,
        scorecard -> Text,
        entity_ref -> Text,
        checks_json -> Text,
        reason -> Text,
        approver -> Text,
        expires -> Text,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    scaffolder_tasks (id) {
        id -> Text,
        spec_json -> Text,
        status -> Text,
        created_at -> BigInt,
        last_heartbeat_at -> Nullable<BigInt>,
        created_by -> Nullable<Text>,
        secrets_json -> Nullable<Text>,
    }
}

diesel::table! {
    scaffolder_events (id) {
        id -> BigInt,
        task_id -> Text,
        event_type -> Text,
        body_json -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        entity_ref -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    change_log (seq) {
        seq -> BigInt,
        kind -> Text,
        entity_ref -> Nullable<Text>,
        at -> BigInt,
    }
}

diesel::table! {
    webhook_cursors (name) {
        name -> Text,
        last_id -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        private_key -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    notifications (seq) {
        seq -> BigInt,
        id -> Text,
        user_ref -> Text,
        origin -> Text,
        payload -> Text,
        created_at -> BigInt,
        read_at -> Nullable<BigInt>,
        saved_at -> Nullable<BigInt>,
        updated_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    user_settings (user_ref, bucket, key) {
        user_ref -> Text,
        bucket -> Text,
        key -> Text,
        value -> Text,
    }
}
