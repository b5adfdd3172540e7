// Package pair trains PAIR dual encoders (Ren et al., "PAIR: Leveraging Passage-Centric Similarity Relation for
// Improving Dense Passage Retrieval", Findings of ACL 2021; official code research/PAIR_ACL2021 in
// PaddlePaddle/RocketQA).
//
// PAIR is a RocketQA-style dual encoder with one shared tower for queries and passages (raw [CLS], dot product)
// and a loss with a passage-centric term: besides ranking its positive above every other passage (query-centric,
// the RocketQA v1 cross-batch loss), each positive passage must be closer to its query than to the hard
// negatives (and the other queries) of the batch. Training has two stages:
//
//  1. pre-training on pseudo-labelled queries (positives > 0.9 and negatives < 0.1 by a cross-encoder teacher:
//     the files denoise.Augment writes) with (1-α)·L_Q + α·L_P, α = 0.1;
//  2. fine-tuning on labelled queries with denoised hard negatives (denoise.Mine) with L_Q alone, starting from
//     stage 1's model.
//
// The package adds only a loss (Loss) and a configuration (Config, the official presets, Train) to the rocketqa
// package's dual-encoder task: batching, chunking, gradient caching, cross-batch gathering across processes,
// checkpoints and exact resume are rocketqa's and train's. The result is an ordinary shared-tower dual-encoder
// directory that rocketqa.Load and the encode / index / search commands use.
package pair
