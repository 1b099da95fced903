"""Who is calling the hub, and what they may do: principals, tokens, the authorisation function.

Every caller is a principal: a person signed in through the council's identity
provider, or an agency client. ``tokens`` turns a bearer token into a
``Principal``; ``authorise`` answers "may this principal do X to this
referral", reading only the permission table in configuration.
"""
