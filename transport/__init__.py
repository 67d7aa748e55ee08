"""How nodes talk.

- message.py: the messages and their msgpack codec
- network.py: the pure network model (delay, reorder, drop, partitions, holds)
- endpoint.py: a node's asyncio endpoint over that model
- websocket.py: the real wire, one persistent websocket per link
- recorder.py: the event recorder (Lamport clocks)
"""
