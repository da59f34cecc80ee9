"""Pure reporting logic: periods, how a posting feeds the aggregates, KPI formulas. No IO."""
