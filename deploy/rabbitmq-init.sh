#!/bin/sh
# Per-agency broker credentials with least privilege, created through the
# RabbitMQ management HTTP API once the broker is healthy. The rules are those
# of broker/permissions.py (`mashlink broker permissions` prints them as
# rabbitmqctl commands; a test runs this script against that module):
#   hub:    configure, write and read the whole namespace (it declares every
#           queue and binding);
#   agency: declare nothing (configure ^$); publish only to the hub, events
#           and dead-letter exchanges, and on the events exchange only alerts,
#           its own referrals and its own receipts (topic permission); read only its own
#           enquiry queues and its own events queue;
#   referrer-notifier: declare nothing; read only referrer.outcomes; publish
#           only to the events exchange (topic permission: receipt.referrer)
#           and the dead-letter exchange (parking). Created when
#           NOTIFIER_BROKER_PASSWORD is set (compose requires it).
# Dead-letter replay needs nothing more: it goes through the namespace's own
# replay exchange ({ns}.replay), never the default exchange.
set -eu
API="http://rabbitmq:15672/api"
AUTH="${RABBITMQ_ADMIN_USER}:${RABBITMQ_ADMIN_PASSWORD}"
VHOST="%2F"
NS="${MASHLINK_BROKER_NAMESPACE:-mashlink}"

put() { curl -fsS -u "$AUTH" -H 'content-type: application/json' -X PUT "$API/$1" -d "$2"; }

put "users/hub" "{\"password\":\"${HUB_BROKER_PASSWORD}\",\"tags\":\"\"}"
put "permissions/$VHOST/hub" "{\"configure\":\"^$NS\\\\..*\",\"write\":\"^$NS\\\\..*\",\"read\":\"^$NS\\\\..*\"}"

# MASHLINK_AGENCIES: the agency ids, space-separated (`mashlink agency add` prints the new list);
# each needs <ID>_BROKER_PASSWORD (upper case, hyphens as underscores).
for agency in ${MASHLINK_AGENCIES:-police-synth health-synth education-synth social-care-synth}; do
  var=$(echo "$agency" | tr 'a-z-' 'A-Z_')_BROKER_PASSWORD
  eval pw=\${$var}
  put "users/$agency" "{\"password\":\"$pw\",\"tags\":\"\"}"
  put "permissions/$VHOST/$agency" "{\"configure\":\"^\$\",\"write\":\"^$NS\\\\.(hub|events|dlx|retry\\\\.agency\\\\.$agency)\$\",\"read\":\"^$NS\\\\.(enquiry\\\\.$agency\\\\.(red|amber|green)|events\\\\.$agency)\$\"}"
  put "topic-permissions/$VHOST/$agency" "{\"exchange\":\"$NS.events\",\"write\":\"^(alert\\\\.[a-z_]+|referral\\\\.$agency|receipt\\\\.$agency)\$\",\"read\":\"^\$\"}"
done
if [ -n "${NOTIFIER_BROKER_PASSWORD:-}" ]; then
  put "users/referrer-notifier" "{\"password\":\"${NOTIFIER_BROKER_PASSWORD}\",\"tags\":\"\"}"
  put "permissions/$VHOST/referrer-notifier" "{\"configure\":\"^\$\",\"write\":\"^$NS\\\\.(events|dlx|retry\\\\.referrer)\$\",\"read\":\"^$NS\\\\.referrer\\\\.outcomes\$\"}"
  put "topic-permissions/$VHOST/referrer-notifier" "{\"exchange\":\"$NS.events\",\"write\":\"^receipt\\\\.referrer\$\",\"read\":\"^\$\"}"
fi
echo "broker users provisioned"
