-- +goose Up
CREATE INDEX audit_log_module_idx ON audit_log (module, version, at);
CREATE INDEX audit_log_client_token_idx ON audit_log (client_token, at) WHERE client_token <> '';
CREATE INDEX audit_log_client_ip_idx ON audit_log (client_ip, at);
CREATE INDEX audit_log_decision_idx ON audit_log (decision, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- +goose Down
DROP INDEX audit_log_at_idx;
DROP INDEX audit_log_decision_idx;
DROP INDEX audit_log_client_ip_idx;
DROP INDEX audit_log_client_token_idx;
DROP INDEX audit_log_module_idx;
