//! Machine topology: CPU sets, tiers and the performance / efficiency classification.
