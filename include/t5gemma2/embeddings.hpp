// t5gemma2 — former name of sentence_embeddings.hpp (pooled encoder embeddings).
#pragma once

#include "t5gemma2/sentence_embeddings.hpp"
