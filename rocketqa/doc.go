// Package rocketqa implements RocketQA v1 (Qu et al., NAACL 2021): the dual encoder trained with cross-batch
// negatives (all_gather across processes, or gradient caching on one device), the cross-encoder, denoised hard
// negative mining and data augmentation; and the top-level API of the official Python package: Load, EncodeQuery,
// EncodePara, Matching.
package rocketqa
