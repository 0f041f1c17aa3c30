-- +goose Up
CREATE INDEX audit_log_module_idx ON audit_log (module, version, at);
CREATE INDEX audit_log_client_token_idx ON audit_log (client_token, at) WHERE client_token <> '';
CREATE INDEX audit_log_client_ip_idx ON audit_log (client_ip, at);
CREATE INDEX audit_log_decision_idx ON audit_log (decision, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);

COMMENT ON INDEX audit_log_module_idx IS 'Who fetched module M (at version V, in a time range).';
COMMENT ON INDEX audit_log_client_token_idx IS 'What the client with token T fetched in a time range (tokens only; queries repeat client_token <> '''').';
COMMENT ON INDEX audit_log_client_ip_idx IS 'What the client at IP address A fetched in a time range.';
COMMENT ON INDEX audit_log_decision_idx IS 'Every blocked (or failed) request in a time range.';
COMMENT ON INDEX audit_log_at_idx IS 'Exports by time range and retention pruning.';

-- +goose Down
DROP INDEX audit_log_at_idx;
DROP INDEX audit_log_decision_idx;
DROP INDEX audit_log_client_ip_idx;
DROP INDEX audit_log_client_token_idx;
DROP INDEX audit_log_module_idx;
