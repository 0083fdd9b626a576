"""The user-token pool: entries from the store, health, scheduling, validation, admin service.

    model     TokenEntry, masking, fingerprints, tokens.txt parsing (pure)
    health    Health transitions (pure) behind the HealthStore interface
    schedule  stride scheduling per priority group (pure)
    pool      UserPool: what the request path calls, all in memory
    validate  GET /api/v1/auths/ with a token
    service   TokenService: store + pool, for the admin and the start-up import
"""
