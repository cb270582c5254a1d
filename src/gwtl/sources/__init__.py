"""Where raw data come from: eHYD exports and catalogs, your own CSV layout, plausibility rules, the fetch stage and the choice of stations."""
