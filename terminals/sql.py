"""The terminal API's hot-path statements, server-side prepared on PostgreSQL (config.prepared,
like wallet.ledger's): parsed and planned once per database session instead of on every request."""

from config.prepared import Statements

STATEMENTS = Statements(
    {
        # The terminal, its agent and the agent's ledger account, by the id the terminal sends.
        "terminals_auth": (
            "(text)",
            "SELECT t.id, t.kind, t.location, t.status, t.secret_version, t.agent_id, a.status, a.account_id,"
            " acc.currency FROM terminals_terminal t JOIN terminals_agent a ON a.id = t.agent_id"
            " JOIN wallet_account acc ON acc.id = a.account_id WHERE t.code = $1",
        ),
        # The customer wallet of a phone in a currency, with what the SMS notice needs of its owner.
        "terminals_wallet": (
            "(text, text)",
            "SELECT a.id, a.status, u.id, u.first_name, u.language"
            " FROM wallet_user u JOIN wallet_account a ON a.owner_id = u.id"
            " WHERE u.phone = $1 AND a.kind = 'customer' AND a.currency = $2",
        ),
        # A succeeded transaction row, timed by its ledger entry; nothing if the txn_id has a row.
        "terminals_txn_succeeded": (
            "(bigint, text, text, bigint, text, boolean, text, bigint, bigint)",
            "INSERT INTO terminals_terminaltransaction (terminal_id, txn_id, kind, status, result, error,"
            " comment, amount, currency, phone, wallet_created, payload, entry_id, voucher_id, created_at)"
            " SELECT $1, $2, $3, 'succeeded', 0, '', 'OK', $4, e.currency, $5, $6, $7, e.id, $8, e.created_at"
            " FROM wallet_entry e WHERE e.id = $9"
            " ON CONFLICT (terminal_id, txn_id) DO NOTHING RETURNING id, created_at, currency",
        ),
    }
)
execute = STATEMENTS.execute
