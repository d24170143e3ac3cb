"""Data pre-processing and task post-processing, one concept per module.

Text tasks: language_modeling (MLM masking, NSP pairs), question_answering (span selection and
span labels), token_classification (label alignment, word aggregation, BIO grouping). Import from
the concept modules directly.

Audio: audio (Wav2Vec2FeatureExtractor, conv_output_lengths, feature_vector_attention_mask),
ctc_decoding (greedy, prefix beam search).
Images: image (resize with Pillow's / torchvision's antialiased filters, rescale / normalize / center
crop, ViTImageProcessor, ConvNextImageProcessor); import from refimpl.processing.image.
"""
