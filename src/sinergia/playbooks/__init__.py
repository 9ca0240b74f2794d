"""Acting on signals: playbooks (triggers, conditions, actions), the runner, the outbox and Support-vs-CS routing."""
