// t5gemma2 — former name of decoder_session.hpp (the decoder's KV caches and generation steps).
#pragma once

#include "t5gemma2/decoder_session.hpp"
