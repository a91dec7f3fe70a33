#!/bin/sh
echo "hello from $(cat /etc/app/flavour)"
