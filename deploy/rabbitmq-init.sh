#!/bin/sh
# Per-agency broker credentials with least privilege, created through the
# RabbitMQ management HTTP API once the broker is healthy. Each agency may
# read only its own enquiry queues and publish only to the responses and
# events exchanges; the hub gets the whole mashlink namespace.
set -eu
API="http://rabbitmq:15672/api"
AUTH="${RABBITMQ_ADMIN_USER}:${RABBITMQ_ADMIN_PASSWORD}"
VHOST="%2F"

put() { curl -fsS -u "$AUTH" -H 'content-type: application/json' -X PUT "$API/$1" -d "$2"; }

put "users/hub" "{\"password\":\"${HUB_BROKER_PASSWORD}\",\"tags\":\"\"}"
put "permissions/$VHOST/hub" '{"configure":"^mashlink\\..*","write":"^mashlink\\..*","read":"^mashlink\\..*"}'

for agency in police-synth health-synth education-synth social-care-synth; do
  var=$(echo "$agency" | tr 'a-z-' 'A-Z_')_BROKER_PASSWORD
  eval pw=\${$var}
  put "users/$agency" "{\"password\":\"$pw\",\"tags\":\"\"}"
  put "permissions/$VHOST/$agency" "{\"configure\":\"^mashlink\\\\.enquiry\\\\.$agency\\\\..*\",\"write\":\"^mashlink\\\\.(responses|events)$\",\"read\":\"^mashlink\\\\.(enquiry\\\\.$agency\\\\..*|agency\\\\.$agency\\\\..*)\"}"
done
echo "broker users provisioned"
