"""Text rendering shared by the CLI and the demo: the one table renderer (`tables`) and the report's table
(`report`). It sits below `cli` and `demo` and needs only `model` and the store's `QueryResult`."""
