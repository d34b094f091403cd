"""Market-data providers: Polygon, FMP and FRED over httpx, and the offline synthetic one."""
