"""The SFTP channel (paramiko), in both directions.

    hosted.py    HostedSftpServer: partners log in and upload into inbox/, collect from outbox/
    poll.py      SftpPoller: stable files fetched from a partner's server, then moved or deleted
    outbound.py  SftpSender (upload, temporary name then rename), HostedOutbox (into a hosted outbox/)
    client.py    connecting to a partner's server: pinned host key, key or password login
    keys.py      password hashes, public keys, host keys (python -m adapters.sftp.keys hashes a password)
    config.py    SftpServerConfig (gateway config ``sftp``), SftpPartner (partner file ``channels.sftp``)
"""
