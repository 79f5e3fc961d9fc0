-- Security: user accounts, sessions, API tokens, MFA recovery codes, sign-in throttling and the
-- server's generated secrets. Secrets are never stored in the clear: session, API-token and
-- recovery-code columns hold SHA-256 digests (hex); TOTP secrets are AES-256-GCM ciphertexts.
-- Timestamps are written by the application in UTC.

CREATE TABLE users (
    id                 BIGINT AUTO_INCREMENT PRIMARY KEY,
    username           VARCHAR(64)  NOT NULL,
    password_hash      VARCHAR(255) NOT NULL,
    role               VARCHAR(16)  NOT NULL,
    branch             VARCHAR(100),
    agent_code         VARCHAR(20),
    disabled           BOOLEAN      NOT NULL DEFAULT FALSE,
    mfa_enabled        BOOLEAN      NOT NULL DEFAULT FALSE,
    mfa_secret         VARCHAR(255),
    mfa_pending_secret VARCHAR(255),
    mfa_last_step      BIGINT,
    created_at         DATETIME(6)         NOT NULL,
    updated_at         DATETIME(6)         NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sessions (
    id           BIGINT AUTO_INCREMENT PRIMARY KEY,
    token_hash   CHAR(64)     NOT NULL,
    user_id      BIGINT       NOT NULL,
    mfa_pending  BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at   DATETIME(6)         NOT NULL,
    last_seen_at DATETIME(6)         NOT NULL,
    expires_at   DATETIME(6)         NOT NULL,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    id           BIGINT AUTO_INCREMENT PRIMARY KEY,
    user_id      BIGINT       NOT NULL,
    name         VARCHAR(100) NOT NULL,
    token_prefix VARCHAR(16)  NOT NULL,
    token_hash   CHAR(64)     NOT NULL,
    created_at   DATETIME(6)         NOT NULL,
    expires_at   DATETIME(6),
    last_used_at DATETIME(6),
    revoked_at   DATETIME(6),
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, id);

CREATE TABLE recovery_codes (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    user_id    BIGINT       NOT NULL,
    code_hash  CHAR(64)     NOT NULL,
    created_at DATETIME(6)         NOT NULL,
    used_at    DATETIME(6),
    CONSTRAINT recovery_codes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id, code_hash);

-- One row per throttled key (`account:<username>` or `ip:<address>`), shared by every replica.
CREATE TABLE sign_in_throttle (
    throttle_key    VARCHAR(200) NOT NULL PRIMARY KEY,
    failures        INTEGER      NOT NULL,
    last_failure_at DATETIME(6)         NOT NULL,
    locked_until    DATETIME(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Generated server secrets (the key that encrypts TOTP secrets when MOON_SECRET_KEY is unset).
CREATE TABLE server_secrets (
    name         VARCHAR(64)  NOT NULL PRIMARY KEY,
    secret_value VARCHAR(255) NOT NULL,
    created_at   DATETIME(6)         NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
